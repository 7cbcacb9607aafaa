"""The machine's measured peak multiply-add rate on one core, for the physical floor in
docs/BENCHMARKS.md: best of 5 single-threaded 2048^3 f32 matrix products in OpenBLAS.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 models/.venv/bin/python -m models peak-rate

(OPENBLAS_CORETYPE pins an older kernel on some machines here; unset it for this measurement only.)
"""
import time

import numpy as np
from threadpoolctl import threadpool_info

ENCODER_GMACS, DECODER_GMACS = 37.5, 1.8


def main() -> None:
    n = 2048
    a = np.random.default_rng(0).random((n, n), dtype=np.float32)
    b = a.copy()
    a @ b
    best = min((lambda t: (a @ b, time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(5))
    rate = n**3 / best / 1e9
    kernels = [(i.get("internal_api"), i.get("architecture"), i.get("num_threads")) for i in threadpool_info()]
    print(f"peak {rate:.1f} GMAC/s on one core ({kernels}); floor: encoder {ENCODER_GMACS / rate * 1000:.0f} ms, "
          f"decoder {DECODER_GMACS / rate * 1000:.0f} ms")


if __name__ == "__main__":
    main()
