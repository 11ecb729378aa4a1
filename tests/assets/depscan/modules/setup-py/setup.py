from setuptools import setup

setup(
    name="corpus-setup-py",
    install_requires=[
        "django==2.2.0",
        "urllib3==1.24.2",
    ],
    extras_require={"http": ["requests==2.19.0"]},
)
