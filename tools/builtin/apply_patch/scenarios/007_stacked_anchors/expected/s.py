class A:
    def f(self):
        pass

    def g(self):
        raise NotImplementedError()


class B:
    def g(self):
        pass
