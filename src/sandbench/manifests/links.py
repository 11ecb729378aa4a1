"""Symbolic links inside a module tree, resolved the way the kernel resolves them.

A link that is lexically inside the module can still lead out of it: `a -> b/../..` where
`b` is itself a link to `x/y`, a link to a folder that is a link, a chain of links each
adding one `..`. `LinkTree` holds the tree's folders, files and links (from an archive's
entries or a folder on disk) and `check()` resolves every link component by component,
as the kernel would: a component that is a link is replaced by its resolution (at most
`MAX_LINKS` links, Linux's MAXSYMLINKS), `..` is applied to what was resolved so far, a
missing component is taken as a folder that could appear later (so `missing/../..`
counts as two levels up). A link is refused when its resolution leaves the root, loops,
is too deep, or is absolute. All checks together take at most `MAX_STEPS` component
steps: a tree of links built to be slow to check is refused, not checked for minutes.
"""

from __future__ import annotations

from collections.abc import Iterator

from .text import shown

__all__ = ["MAX_LINKS", "MAX_STEPS", "LinkProblem", "LinkTree"]

MAX_LINKS = 40
MAX_STEPS = 2_000_000


class LinkProblem(ValueError):
    """A link (or an entry written through one) the tree refuses; `path` names it."""

    def __init__(self, path: str, problem: str) -> None:
        self.path, self.problem = path, problem
        super().__init__(f"{path}: {problem}")


class _Node:
    __slots__ = ("children", "target")

    def __init__(self, target: str | None = None, folder: bool = False) -> None:
        self.children: dict[str, _Node] | None = {} if folder else None
        self.target = target


class LinkTree:
    """Folders, files and links under one root, by `/`-separated relative path."""

    def __init__(self) -> None:
        self.root = _Node(folder=True)
        self._links: list[tuple[str, tuple[str, ...], str]] = []
        self._steps = 0
        self._floor = 0  # how deep the folder links must stay in is

    def add(self, parts: tuple[str, ...], kind: str, target: str | None = None) -> bool:
        """Record `parts` as a `folder`, `file` or `link` (with `target`), creating its
        parent folders. Returns False when it exists already (a folder may be declared
        again). Raises `LinkProblem` when a parent is a link or a file: writing there
        would follow the link (or fail)."""
        node = self.root
        for depth, name in enumerate(parts[:-1]):
            assert node.children is not None  # noqa: S101 - only folders are descended into
            child = node.children.get(name)
            if child is None:
                child = node.children[name] = _Node(folder=True)
            elif child.children is None:
                what = "a link" if child.target is not None else "a file"
                where = "/".join(parts[: depth + 1])
                raise LinkProblem("/".join(parts), f"goes through {shown(where)}, which is {what}")
            node = child
        assert node.children is not None  # noqa: S101
        existing = node.children.get(parts[-1])
        if existing is not None:
            return kind == "folder" and existing.children is not None
        node.children[parts[-1]] = _Node(target, folder=kind == "folder")
        if kind == "link":
            assert target is not None  # noqa: S101
            self._links.append(("/".join(parts), parts[:-1], target))
        return True

    def module_folder(self) -> tuple[str, ...]:
        """Where the module is in the tree: `()` when `module.json` is at the top, else the
        single top-level folder, if there is exactly one (as the archive reader decides)."""
        assert self.root.children is not None  # noqa: S101 - the root is a folder
        top = self.root.children
        manifest = top.get("module.json")
        if manifest is not None and manifest.children is None and manifest.target is None:
            return ()
        if len(top) == 1:
            ((name, node),) = top.items()
            if node.children is not None:
                return (name,)
        return ()

    def check(self, within: tuple[str, ...] = ()) -> None:
        """Resolve every link; raise `LinkProblem` for the first that leaves the folder
        `within` (the root by default), loops, is more than `MAX_LINKS` deep or absolute,
        or when the checks would take more than `MAX_STEPS` steps."""
        self._floor = len(within)
        for path, folder, target in self._links:
            try:
                self._walk(list(self._nodes(folder)), target, [MAX_LINKS])
            except LinkProblem as exc:
                raise LinkProblem(path, f"link to {shown(target)} {exc.problem}") from None

    def _nodes(self, parts: tuple[str, ...]) -> Iterator[_Node | None]:
        node: _Node | None = self.root
        for name in parts:
            node = _child(node, name)
            yield node

    def _walk(
        self, stack: list[_Node | None], target: str, budget: list[int]
    ) -> list[_Node | None]:
        if target.startswith("/"):
            raise LinkProblem("", "an absolute path; make it relative and inside the module")
        for name in target.split("/"):
            self._steps += 1
            if self._steps > MAX_STEPS:
                raise LinkProblem("", f"the links take over {MAX_STEPS} steps to resolve")
            if name in ("", "."):
                continue
            if name == "..":
                if len(stack) <= self._floor:
                    raise LinkProblem("", "leaves the module")
                stack.pop()
                continue
            node = _child(stack[-1] if stack else self.root, name)
            if node is not None and node.target is not None:
                budget[0] -= 1
                if budget[0] < 0:
                    raise LinkProblem("", f"more than {MAX_LINKS} links deep, or a loop")
                stack = self._walk(stack, node.target, budget)
            else:
                stack.append(node)
        return stack


def _child(node: _Node | None, name: str) -> _Node | None:
    """`name` inside `node`; None when missing (or when `node` is missing or a file)."""
    if node is None or node.children is None:
        return None
    return node.children.get(name)
