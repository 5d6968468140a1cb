"""Board drivers, one small class per kind of output, behind :class:`~.base.BoardDriver`."""
