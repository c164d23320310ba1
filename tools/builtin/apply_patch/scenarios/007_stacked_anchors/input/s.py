class A:
    def f(self):
        pass

    def g(self):
        pass


class B:
    def g(self):
        pass
