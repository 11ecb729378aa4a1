# expect: MAL006
from PIL import ImageGrab
import pyperclip


def spy():
    ImageGrab.grab().save("/tmp/s.png")
    return pyperclip.paste()
