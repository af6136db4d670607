"""What the routers share, so that no router imports another: keyset pagination
(``pagination``), the parameters several routes take (``params``), and the responses of
events as the database renders them (``responses``)."""
