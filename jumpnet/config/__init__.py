"""The config layer: the schema of every typed group, composing configs, and the names runs get from them.

Importing this package registers what Hydra needs before it composes: the schema (``schema/<name>`` in the
ConfigStore, ``schema.py``) and the ``${ablation_label:...}``, ``${short_dirname:...}`` and
``${folder_excluded_keys:}`` resolvers that name run folders (``naming.py``). ``run.py``, the sweeper plugin
and every tool import it first.
"""
from jumpnet.config import schema  # noqa: F401 - registers schema/* in Hydra's ConfigStore
from jumpnet.config.naming import register_resolvers

register_resolvers()
