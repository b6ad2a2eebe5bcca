"""How the mail commands print stage results and errors."""

from mailsync.errors import code_info


def explain(code: str) -> str:
    info = code_info(code)
    return f"{info.title}. {info.help}"


def stage_line(result) -> str:
    if result.ok:
        return f"  ok    {result.stage} ({result.elapsed_ms} ms)"
    words = f" - server said: {result.detail}" if result.detail else ""
    return f"  FAIL  {result.stage}: {result.code}{words}"


def error_line(code: str) -> str:
    return f"error: {code}: {explain(code)}"
