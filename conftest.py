"""pytest at the repository root: notebooks run under the smoke profile unless told otherwise.

The nbval kernels inherit this process's environment, so the profile set here is theirs too.
"""

import os

os.environ.setdefault("COURSE_PROFILE", "smoke")
