"""Tests that run Brushwork as its users and operators do: across processes and real servers."""
