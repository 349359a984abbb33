"""The one exception type that reaches users as a single line of text."""


class LivehumanError(Exception):
    """A problem the user can fix; its message says what happened and what to do.

    The CLI prints it as one line on stderr (no traceback); the server answers it as a 4xx.
    """
