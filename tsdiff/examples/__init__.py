"""Small end-to-end examples with known answers."""
