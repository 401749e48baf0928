"""Hardware in the loop: the simulator flown with a microcontroller's int8 actions over a framed serial link.

``protocol`` (wire format, shared with ``firmware/hil``), ``link`` (host session: handshake, retries), ``qemu``
(build the HIL firmware and run it under QEMU), ``bridge`` (fly episodes, compare with the host int8 reference),
``run`` (what ``tinyrl hil`` calls). Importing this package imports none of them.
"""
