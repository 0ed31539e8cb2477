"""Run management: list, compare, promote and roll back training runs."""
