"""Physics only: the Crazyflie flight model, its inner controller, the PyBullet world and the sensors."""
