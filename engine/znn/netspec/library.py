"""The bundled network library (`networks/` in the repository, `znn/networks` in a wheel): `.znn`
layouts, and in `trained/` networks trained by this project (`<name>.h5` with its model card
`<name>.md`, e.g. N4 trained on ISBI 2012), which a new run can start from."""

from __future__ import annotations

from pathlib import Path

from znn.base.errors import NetworkSpecError, SavedNetworkError, did_you_mean

_PACKAGED = Path(__file__).resolve().parents[1] / "networks"  # wheel install
_SOURCE_TREE = Path(__file__).resolve().parents[3] / "networks"  # editable install / checkout


def network_dir() -> Path:
    """Folder holding the bundled `.znn` files."""
    return _PACKAGED if _PACKAGED.is_dir() else _SOURCE_TREE


def list_networks() -> dict[str, Path]:
    """{name without .znn: path} of every bundled network, sorted by name."""
    return {p.stem: p for p in sorted(network_dir().glob("*.znn"))}


def bundled_network(name: str | Path) -> Path | None:
    """The bundled network a bare name (`N4` or `N4.znn`, no folder) stands for, or None."""
    path = Path(name)
    if len(path.parts) != 1:
        return None
    stem = path.name[:-4] if path.name.endswith(".znn") else path.name
    return list_networks().get(stem)


def network_path(name_or_path: str | Path) -> Path:
    """A bundled network by name (`N4` or `N4.znn`), or an existing file path as given."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.is_dir():
        raise NetworkSpecError("is a directory, not a network file", file=str(path),
                               expected="a .znn file or the name of a bundled network")
    library = list_networks()
    stem = path.name[:-4] if path.name.endswith(".znn") else path.name
    if stem in library:
        return library[stem]
    hint = did_you_mean(stem, library)
    raise NetworkSpecError(f"network file not found, nor a bundled network of that name{hint}",
                           file=str(name_or_path), expected="a .znn path or one of " + ", ".join(library))


def trained_dir() -> Path:
    return network_dir() / "trained"


def list_trained() -> dict[str, Path]:
    """{name: .h5 path} of every bundled trained network, sorted by name."""
    return {p.stem: p for p in sorted(trained_dir().glob("*.h5"))}


def trained_network(name_or_path: str | Path) -> Path:
    """A bundled trained network by name (`N4-isbi2012`), or an existing .h5 path as given."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    library = list_trained()
    stem = path.name[:-3] if path.name.endswith(".h5") else path.name
    if len(path.parts) == 1 and stem in library:
        return library[stem]
    hint = did_you_mean(stem, library)
    names = ", ".join(library) or "(none bundled)"
    raise SavedNetworkError(f"saved network file not found, nor a bundled trained network of that name{hint}",
                            file=str(name_or_path), expected=f"an .h5 path or one of {names}")


def model_card(trained: Path) -> Path | None:
    """The model card (`<name>.md`) beside a bundled trained network, if it has one."""
    card = trained.with_suffix(".md")
    return card if card.is_file() else None
