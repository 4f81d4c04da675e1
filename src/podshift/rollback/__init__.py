"""Rollback (Podman -> Docker): the Podman side, its snapshot, the data's way back, the prerequisites.

The steps that use these live in ``remediations/rollback/``; the checks that
prove a rollback in ``checks/post_rollback/``.
"""
