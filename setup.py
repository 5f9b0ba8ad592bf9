"""Packaging: metadata lives in setup.cfg; this file reads the requirement lists."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def requirements(name: str) -> list:
    """Return the requirement lines of requirements/<name>.txt."""
    lines = (HERE / 'requirements' / f'{name}.txt').read_text().splitlines()
    return [line.strip() for line in lines
            if line.strip() and not line.startswith(('#', '-r'))]


EXTRAS = ('redis', 'sqlalchemy', 'postgresql', 'msgpack', 'yaml', 'auth', 'solar')

setup(
    packages=find_packages(include=['celery', 'celery.*']),
    install_requires=requirements('default'),
    extras_require={name: requirements(f'extras/{name}') for name in EXTRAS},
)
