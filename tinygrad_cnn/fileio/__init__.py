"""Files that hold a user's work: written atomically, only where a regular file may go,
and signed, so that our own output may be replaced and nobody else's is.

:mod:`.atomic` writes (:func:`atomic_write`, :func:`append_whole`) and checks destinations
and sources before long work starts (:func:`check_writable`, :func:`check_readable`);
:mod:`.signature` marks what the library writes and recognises it again
(:func:`sign`, :func:`written_by_us`, :func:`check_output`, :func:`sign_line`). This layer
imports nothing of the package.
"""

from .atomic import (
    TEMP_SUFFIX,
    NotARegularFileError,
    append_whole,
    atomic_write,
    check_readable,
    check_writable,
    fitting_name,
    hidden_sibling,
    host_tag,
    remove_stale_temporaries,
    write_bytes,
)
from .signature import (
    SIGNATURE,
    check_output,
    has_old_mark,
    line_signature,
    sign,
    sign_line,
    signed_content,
    write_output,
    written_by_us,
)

__all__ = ["NotARegularFileError", "SIGNATURE", "TEMP_SUFFIX", "append_whole", "atomic_write",
           "check_output", "check_readable", "check_writable", "fitting_name", "has_old_mark",
           "hidden_sibling", "host_tag", "line_signature", "remove_stale_temporaries", "sign",
           "sign_line", "signed_content", "write_bytes", "write_output", "written_by_us"]
