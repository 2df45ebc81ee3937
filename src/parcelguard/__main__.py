"""``python -m parcelguard``: the same CLI as the ``parcelguard`` command."""

from parcelguard.cli import main

main()
