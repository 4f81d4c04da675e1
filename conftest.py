"""Root conftest: deliberately thin.

podshift's plugin (markers, options, fixtures) is loaded through its pytest11
entry point; checks/conftest.py loads the target project.  Nothing else
needs to sit at the root.
"""
