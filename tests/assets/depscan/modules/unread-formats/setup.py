from setuptools import setup


def pins():
    return ["urllib3==1.24.1"]


setup(name="computed", install_requires=pins())
