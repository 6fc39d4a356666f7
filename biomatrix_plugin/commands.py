"""Spine sub-commands: vocab, extend, tiny-base, wrap, unwrap, install-hook, doctor."""


def register(subparsers):
    pass
