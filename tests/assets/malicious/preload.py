# expect: MAL011
import os
import subprocess


def run(tool):
    os.environ["LD_PRELOAD"] = "/tmp/.cache/libhook.so"
    subprocess.run([tool], check=False)
