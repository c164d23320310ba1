import sys


def greet(name):
    print("Hi", name)
    return None


def main():
    greet(sys.argv[1])


if __name__ == "__main__":
    main()  # entry point
