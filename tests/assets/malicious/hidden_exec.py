# expect: MAL005
import os


def run(cmd):
    vars(__builtins__)["exec"]("import os")
    getattr(__import__("os"), "system").__call__(cmd)
    os.__dict__["popen"](cmd)
