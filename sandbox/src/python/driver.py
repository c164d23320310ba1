"""ossa's driver inside the sandboxed interpreter: runs notebook cells and commands.

The host installs this source as the module `_ossa` in every new interpreter, calls
`setup` once, then `cell` for each notebook cell or `command` once for a command. Each
of those ends by sending one JSON object to the host through the `_host` module (the
interpreter's "door", its only channel to the host besides WASI): `{"kind": "cell",
"value": repr or None, "error": traceback or None}` for a cell, `{"kind": "command",
"exit": status}` for a command. What the code prints goes to the real stdout and
stderr, which the host captures.
"""

import ast
import json
import linecache
import os
import sys
import traceback

import _host

_DRIVER_FILES = {"<ossa>"}
_cells = 0
_value_limit = 64 * 1024


def _send(message):
    _host.call(json.dumps(message).encode("utf-8", "surrogatepass"))


def _flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def _clip(text):
    """The head and tail of a long text, as the host clips output."""
    if len(text) <= _value_limit:
        return text
    half = _value_limit // 2
    left_out = len(text) - 2 * half
    return f"{text[:half]}\n[… {left_out} characters left out …]\n{text[-half:]}"


def _format(exc):
    """The traceback of `exc` as Python prints it, without the driver's own frames."""
    try:
        try:
            import runpy

            _DRIVER_FILES.add(runpy.__file__)
        except Exception:
            pass
        tb = exc.__traceback__
        while tb is not None and (
            tb.tb_frame.f_code.co_filename in _DRIVER_FILES
            or tb.tb_frame.f_code.co_filename == "<frozen runpy>"
        ):
            tb = tb.tb_next
        return "".join(traceback.format_exception(type(exc), exc, tb))
    except BaseException:
        return f"{type(exc).__name__} (its traceback could not be formatted)\n"


def setup(config):
    """Working directory, environment and import path of this interpreter: `PYTHONPATH`
    first, then the standard library, then each library directory and the wheels in
    it. A notebook also imports from its working directory, as Jupyter does."""
    global _value_limit
    _value_limit = config["value_limit"]
    os.environ.update(config["env"])
    os.environ.setdefault("NO_COLOR", "1")  # the host is a pipe, not a terminal
    os.chdir(config["cwd"])
    front = [entry for entry in os.environ.get("PYTHONPATH", "").split(":") if entry]
    sys.path[0:0] = front
    for directory in config["library"]:
        sys.path.append(directory)
        try:
            wheels = sorted(name for name in os.listdir(directory) if name.endswith(".whl"))
        except OSError:
            wheels = []
        sys.path.extend(os.path.join(directory, name) for name in wheels)
    if config["notebook"]:
        sys.path.insert(0, "")
    # Each line reaches the host as it is printed, so a cell stopped by its time limit
    # still shows what it printed, and merged output keeps its order.
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(line_buffering=True)
    sys.executable = "/usr/local/bin/python3"
    _forget_turn_source()
    _send({"kind": "ready"})


def _forget_turn_source():
    # The reactor keeps the source of each turn for tracebacks of `<stdin>`; ossa's
    # turns are one-line calls of this module whose source nobody needs.
    cache = getattr(linecache, "_interactive_cache", None)
    if cache is not None:
        try:
            cache.clear()
        except Exception:
            pass


# Code that can run after its cell has ended: its cell's source is kept for tracebacks
# and `inspect.getsource`; other cells' sources are dropped once the cell has run.
_DEFERRED = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.GeneratorExp)


def cell(source):
    """Runs one notebook cell in `__main__`: the value of a final expression is echoed
    (unless the cell ends with `;`), an exception gives its traceback."""
    global _cells
    _cells += 1
    _forget_turn_source()
    name = f"<cell {_cells}>"
    namespace = sys.modules["__main__"].__dict__
    # Registered first so tracebacks and `inspect.getsource` show the cell's lines.
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)
    value = error = None
    keep_source = False
    # No top-level `await`: asyncio needs a socket pair, which WASI 0.1 lacks.
    try:
        tree = compile(source, name, "exec", ast.PyCF_ONLY_AST)
        keep_source = any(isinstance(node, _DEFERRED) for node in ast.walk(tree))
        last = None
        if (
            tree.body
            and isinstance(tree.body[-1], ast.Expr)
            and not source.rstrip().endswith(";")
        ):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, name, "exec"), namespace)
        if last is not None:
            result = eval(compile(last, name, "eval"), namespace)
            if result is not None:
                namespace["_"] = result
                value = _clip(repr(result))
    except BaseException as exc:
        error = _clip(_format(exc))
    if not keep_source:
        linecache.cache.pop(name, None)
    _flush()
    _send({"kind": "cell", "value": value, "error": error})


_USAGE = """usage: python3 [option] ... [-c cmd | -m mod | file | -] [arg] ...
Options (the sandboxed interpreter accepts these and ignores most):
-c cmd : program passed in as string (terminates option list)
-m mod : run library module as a script (terminates option list)
-W arg : warning control
-X opt : implementation-specific option (ignored)
-b -B -d -E -I -O -OO -q -s -S -u -v -x : accepted, no effect
-V, --version : print the Python version number and exit
-h, --help : print this help message and exit
"""

_IGNORED_FLAGS = set("bBdEIiOqsSuvxRP")


def command(args):
    """Runs `python3 ARGS` as a shell would: `-c`, `-m`, a script, options. Sends
    the exit status."""
    status = _exit_status(_main, args)
    try:
        import atexit

        atexit._run_exitfuncs()
    except BaseException:
        pass
    _flush()
    _send({"kind": "command", "exit": status})


def _exit_status(function, *args):
    """The exit status of a program that `function(*args)` runs: 0 unless it returns
    a status, raises SystemExit, or raises another exception (1, after its traceback)."""
    try:
        result = function(*args)
        return result if isinstance(result, int) else 0
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code & 0xFF
        print(code, file=sys.stderr)
        return 1
    except BaseException as exc:
        sys.stderr.write(_format(exc))
        return 1


def _main(args):
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        if arg in ("-V", "--version"):
            print("Python " + sys.version.split()[0])
            return 0
        if arg in ("-h", "-?", "--help"):
            print(_USAGE, end="")
            return 0
        if arg.startswith("--"):
            print(f"unknown option {arg}\n{_USAGE.splitlines()[0]}", file=sys.stderr)
            return 2
        j = 1
        while j < len(arg):
            flag = arg[j]
            if flag in "cmWX":
                value = arg[j + 1 :]
                if not value:
                    i += 1
                    if i >= len(args):
                        print(f"Argument expected for the -{flag} option", file=sys.stderr)
                        return 2
                    value = args[i]
                rest = args[i + 1 :]
                if flag == "c":
                    return _run_string(value, rest)
                if flag == "m":
                    return _run_module(value, rest)
                if flag == "W":
                    import warnings

                    sys.warnoptions.append(value)
                    warnings._processoptions([value])
                break
            if flag not in _IGNORED_FLAGS:
                print(f"Unknown option: -{flag}\n{_USAGE.splitlines()[0]}", file=sys.stderr)
                return 2
            j += 1
        i += 1
    rest = args[i:]
    if not rest or rest[0] == "-":
        # Python reads the program from stdin, which is empty in the sandbox.
        sys.argv = rest or [""]
        return 0
    return _run_script(rest[0], rest[1:])


def _run_string(code, args):
    sys.argv = ["-c", *args]
    sys.path.insert(0, "")
    namespace = sys.modules["__main__"].__dict__
    return _exit_status(lambda: exec(compile(code, "<string>", "exec"), namespace))


def _run_module(module, args):
    import runpy

    sys.argv = ["-m", *args]
    sys.path.insert(0, os.getcwd())
    return _exit_status(runpy._run_module_as_main, module, True)


def _run_script(path, args):
    import runpy

    if not os.path.exists(path):
        print(
            f"python3: can't open file {os.path.abspath(path)!r}: [Errno 2] No such file or directory",
            file=sys.stderr,
        )
        return 2
    sys.argv = [path, *args]
    if not os.path.isdir(path):
        sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    return _exit_status(runpy.run_path, path, None, "__main__")
