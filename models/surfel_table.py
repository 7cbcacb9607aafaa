"""Write src/surfel_normals.txt: the surface-element normals of the 256 2x2x2 neighbourhood codes.

    models/.venv/bin/python -m models surfel-table

NSD as the CVPR24 challenge computes it (DeepMind's surface-distance, via compute_metrics.py) sums,
for each surface voxel corner, the areas of the marching-cubes triangles of its 2x2x2 neighbourhood.
Those triangles come from a lookup table of DeepMind's `surface_distance` (Apache-2.0, PyPI
ctg-surface-distance==0.1, surface_distance/lookup_tables.py). daftseg's Rust metric must use the very
same table to agree to 1e-4, so this script writes it out as data, one line per code:
`x,y,z` area vectors separated by spaces (all multiples of 1/8, exact in decimal).
"""
from pathlib import Path

from surface_distance import lookup_tables

OUT = Path(__file__).resolve().parent.parent / "src" / "surfel_normals.txt"


def main() -> None:
    table = lookup_tables._NEIGHBOUR_CODE_TO_NORMALS
    assert len(table) == 256
    lines = [
        "# Surface-element normals per 2x2x2 neighbourhood code (256 lines), from DeepMind's",
        "# surface-distance lookup_tables.py (Apache-2.0; PyPI ctg-surface-distance==0.1).",
        "# Written by models/surfel_table.py.",
    ]
    for normals in table:
        lines.append(" ".join(",".join(repr(float(v)) for v in normal) for normal in normals))
    OUT.write_text("\n".join(lines) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
