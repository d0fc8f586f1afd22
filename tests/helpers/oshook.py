"""A `sitecustomize` for the child processes of bad-input tests: read-only folders and a nearly
full disk, simulated at the Python level (the tests run as root, where chmod stops no write)."""

HOOK = '''\
"""Loaded by each Python process of a refused command (and its dask workers) in the tests.

ZNN_TEST_READONLY=DIR[:DIR...]: creating files, opening them for writing and making folders under DIR
fail with EROFS, as on a read-only mount. ZNN_TEST_FREE_BYTES=DIR=N: shutil.disk_usage
reports N free bytes for paths under DIR.
"""
import errno
import os
import shutil


def _under(path, folder):
    try:
        real = os.path.realpath(os.fsdecode(path))
    except TypeError:  # a file descriptor
        return False
    return real == folder or real.startswith(folder + os.sep)


def _refuse(path):
    raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fsdecode(path))


_readonly = os.environ.get("ZNN_TEST_READONLY")
if _readonly:
    _folders = [os.path.realpath(folder) for folder in _readonly.split(os.pathsep) if folder]
    _open, _mkdir = os.open, os.mkdir
    _WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND

    def _open_readonly(path, flags, *args, **kwargs):
        if flags & _WRITE and kwargs.get("dir_fd") is None and any(_under(path, folder) for folder in _folders):
            _refuse(path)
        return _open(path, flags, *args, **kwargs)

    def _mkdir_readonly(path, *args, **kwargs):
        if kwargs.get("dir_fd") is None and any(_under(path, folder) for folder in _folders):
            _refuse(path)
        return _mkdir(path, *args, **kwargs)

    os.open, os.mkdir = _open_readonly, _mkdir_readonly

_free = os.environ.get("ZNN_TEST_FREE_BYTES")
if _free:
    _where, _, _amount = _free.rpartition("=")
    _where = os.path.realpath(_where)
    _usage = shutil.disk_usage

    def _disk_usage(path):
        usage = _usage(path)
        return usage._replace(free=int(_amount)) if _under(path, _where) else usage

    shutil.disk_usage = _disk_usage
'''
