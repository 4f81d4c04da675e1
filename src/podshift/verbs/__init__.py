"""The ``podshift`` verbs, one module each; every module defines ``VERB`` (a :class:`podshift.cli.Verb`).

:func:`podshift.cli.verbs` finds them here: adding a verb is adding a module.
"""
