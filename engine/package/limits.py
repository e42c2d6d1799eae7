"""`PackageLimits`: caps that make a hostile package cost little to refuse."""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import PackageError


@dataclass(frozen=True)
class PackageLimits:
    """Size, count and ratio caps applied while reading a package (or a model file
    that is itself a zip, such as a skops or TorchScript file).

    Sizes are *measured while decompressing*; the sizes a zip's headers claim are
    never trusted.

    Parameters
    ----------
    max_package_bytes
        Size of the package file itself.
    max_entries
        Number of entries in the archive.
    max_entry_bytes
        Uncompressed size of any one entry.
    max_total_bytes
        Uncompressed size of all entries together.
    max_ratio
        Largest uncompressed / compressed ratio of an entry bigger than
        `ratio_floor_bytes` (small files may compress better without harm).
    ratio_floor_bytes
        Entries up to this uncompressed size are exempt from the ratio cap.
    max_manifest_bytes
        Size of ``learnware.toml`` and of the statistical spec's JSON file.
    """

    max_package_bytes: int = 512 << 20
    max_entries: int = 4096
    max_entry_bytes: int = 512 << 20
    max_total_bytes: int = 1 << 30
    max_ratio: float = 100.0
    ratio_floor_bytes: int = 1 << 20
    max_manifest_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        for name in ("max_package_bytes", "max_entries", "max_entry_bytes", "max_total_bytes",
                     "ratio_floor_bytes", "max_manifest_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PackageError(f"{name}: expected a positive integer, got {value!r}")
        if not isinstance(self.max_ratio, int | float) or not self.max_ratio >= 1:
            raise PackageError(f"max_ratio: expected a number >= 1, got {self.max_ratio!r}")
