"""The test suite, a package so that its shared helpers import by name (``tests.helpers``)."""
