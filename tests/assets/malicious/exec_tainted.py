# expect: MAL001
from zlib import decompress as d
import codecs


def run(blob):
    code = d(codecs.decode(blob, "hex"))
    text = code.decode()
    eval(compile(text, "<x>", "exec"))
