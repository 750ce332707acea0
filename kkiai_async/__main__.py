"""``python -m kkiai_async``: the same as the ``kkiai`` command."""

from .cli import main

raise SystemExit(main())
