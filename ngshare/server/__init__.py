"""The ngshare server: the ``ngshare`` command and everything it runs.

Layers, top to bottom (nothing imports upward; ``docs/architecture.md``):
``app``/``commands`` -> ``handlers`` -> ``auth``, ``service``, ``maintenance``
-> ``storage`` -> :mod:`ngshare.protocol`.
"""
