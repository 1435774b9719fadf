"""Sphinx configuration: the sb3-blogdqn documentation, Markdown pages (MyST) and API pages from the docstrings."""

import importlib
import os
import sys
import typing
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.domains.python import PythonDomain
from sphinx.environment import BuildEnvironment
from sphinx.transforms import SphinxTransform
from sphinx.util.nodes import make_refnode

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # the checkout's package, also where it is not installed in editable mode

import sb3_blogdqn  # noqa: E402

project = "sb3-blogdqn"
author = "sb3-blogdqn contributors"
copyright = "sb3-blogdqn contributors"
version = release = sb3_blogdqn.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
language = "en"

# -- MyST ---------------------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist"]
# Anchors for the headings of every page, so that [text](page.md#a-heading) links resolve (and are checked).
myst_heading_anchors = 4

# -- autodoc ------------------------------------------------------------------------------------
# The signatures show the annotations; the docstrings' :param: lines say what each argument means.
autodoc_typehints = "signature"
autodoc_member_order = "bysource"
autodoc_preserve_defaults = True
python_use_unqualified_type_names = True
python_maximum_signature_line_length = 100

# Every cross-reference to the package must resolve (a docstring's :class:`X` included); names of
# other libraries are not documented here and render as plain code.
nitpicky = True
nitpick_ignore_regex = [(r"py:.*", r"(?!sb3_blogdqn\.).*")]

# -- HTML ---------------------------------------------------------------------------------------
html_theme = "furo"
html_title = f"sb3-blogdqn {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]

# -- linkcheck: the network is not reached; docs/check_links.py checks every internal link ---------
linkcheck_ignore = [r"https?://.*", r"mailto:.*"]


class RepositoryFileLinks(SphinxTransform):
    """
    A Markdown link from a page to a Markdown file of the repository outside ``docs/`` (the
    benchmarks' notes, the tuning diary) is a link on GitHub; MyST takes it for a missing page.
    Make it a download link: the site then ships the file, as it does the YAML files and scripts
    the pages link to, and the link works in both places.
    """

    default_priority = 100  # before the env collectors run, which register the downloads

    def apply(self, **kwargs: object) -> None:
        for node in list(self.document.findall(addnodes.pending_xref)):
            if node.get("reftype") != "myst" or node.get("refdomain") != "doc":
                continue
            # An absolute path (Sphinx 8 and later) or one relative to docs/ (Sphinx 7), without its suffix.
            target = (DOCS / (node["reftarget"] + ".md")).resolve()
            if DOCS in target.parents or not target.is_file():
                continue
            relative = os.path.relpath(target, Path(self.env.doc2path(self.env.docname)).parent)
            link = addnodes.download_reference(refdomain=None, reftarget=relative, refdoc=self.env.docname,
                                               reftype="myst", refexplicit=True)
            link += node.children or [nodes.literal(relative, relative)]
            node.replace_self(link)


def resolve_package_names(app: Sphinx, env: BuildEnvironment, node: addnodes.pending_xref,
                          contnode: nodes.Element) -> nodes.Element | None:
    """
    A docstring names a class of the package by its short name (:class:`Histories`), which Sphinx
    looks up in the documented object's own module only; the public classes are documented under
    ``sb3_blogdqn``, not their modules. Resolve such a name when exactly one documented object of the
    package ends with it; leave the package's type variables as plain code.
    """
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    objects = typing.cast(PythonDomain, env.get_domain("py")).objects
    found = {(entry.docname, entry.node_id): name for name, entry in objects.items()
             if name.startswith("sb3_blogdqn.") and (name == target or name.endswith("." + target))}
    if len(found) == 1:
        (docname, node_id), name = found.popitem()
        return make_refnode(app.builder, node["refdoc"], docname, node_id, contnode, name)
    module, _, attribute = target.rpartition(".")
    if module.startswith("sb3_blogdqn"):
        try:
            value = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError):
            return None
        if isinstance(value, typing.TypeVar):
            return contnode
    return None


def add_source_backlink_ids(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """
    The highlighted source pages (``sphinx.ext.viewcode``) link back to each documented object as
    ``<module>.<name>``, with one module name per source file: ``sb3_blogdqn`` for a file whose first
    documented object is a public name, ``sb3_blogdqn.common.wrappers`` for another. An object of the
    same file documented under the other name would have no such anchor: give it one.
    """
    modules = getattr(app.env, "_viewcode_modules", {})
    for signature in doctree.findall(addnodes.desc_signature):
        module, fullname = signature.get("module"), signature.get("fullname")
        if not module or not fullname:
            continue
        try:
            defined_in = importlib.import_module(module)
            for part in fullname.split("."):
                defined_in = getattr(defined_in, part)
        except (ImportError, AttributeError):
            continue
        entry = modules.get(getattr(defined_in, "__module__", None))
        if entry:
            anchor = f"{entry[3]}.{fullname}"
            if anchor not in signature["ids"]:
                signature["ids"].append(anchor)


def drop_field_number_docstrings(app: Sphinx, what: str, name: str, obj: object, options: object,
                                 lines: list[str]) -> None:
    """A record's field without a docstring of its own says nothing rather than "Alias for field number 2"."""
    if what == "attribute" and len(lines) <= 2 and lines and lines[0].startswith("Alias for field number "):
        lines.clear()


def skip_undocumented_special_members(app: Sphinx, what: str, name: str, obj: object, skip: bool,
                                      options: object) -> bool | None:
    """A ``__call__`` documented where the pages ask for it, not one that only inherits "Call self as a function"."""
    if name.startswith("__") and name.endswith("__") and getattr(obj, "__doc__", None) is None:
        return True
    return None


def setup(app: Sphinx) -> None:
    app.add_transform(RepositoryFileLinks)
    app.connect("missing-reference", resolve_package_names)
    app.connect("doctree-resolved", add_source_backlink_ids)
    app.connect("autodoc-process-docstring", drop_field_number_docstrings)
    app.connect("autodoc-skip-member", skip_undocumented_special_members)
