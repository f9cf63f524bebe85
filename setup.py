"""Builds plugin_host._clap, the C++ CLAP test host (metadata lives in pyproject.toml)."""

from glob import glob

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup

ext_modules = [
    Pybind11Extension(
        "plugin_host._clap",
        sorted(glob("plugin_host/src/*.cpp")),
        include_dirs=["/usr/share/dpf/distrho/src"],  # DPF's bundled CLAP 1.1.1 headers (package dpf-source)
        cxx_std=17,
        libraries=["dl", "pthread"],
    ),
]

setup(ext_modules=ext_modules, cmdclass={"build_ext": build_ext})
