#include "guards.h"

bool ChannelGuard::limitReading(uint8_t sensor, bool ok, int16_t raw, uint8_t error) {
  if (sensor != limitSensor || tripped) return false;
  if (ok) {
    faults = 0;
    if (raw < limitRaw) return false;
    tripError = false;
    tripRaw = raw;
  } else {
    if (faults < FAULT_READINGS) faults++;
    if (faults < FAULT_READINGS) return false;
    tripError = true;
    tripWhy = error;
  }
  tripped = true;
  return true;
}

bool ChannelGuard::fallbackWants(bool on, bool ok, int16_t raw, uint32_t offForMs) const {
  if (!ok || tripped) return false;  // no trustworthy reading: off is the safe side
  if (fallbackCools) {
    if (on) return raw > fallbackSetpoint;  // cool down to the setpoint
    if (raw < fallbackSetpoint + fallbackDiff) return false;
  } else {
    if (on) return raw < fallbackSetpoint;  // heat up to the setpoint
    if (raw > fallbackSetpoint - fallbackDiff) return false;
  }
  return offForMs >= fallbackMinOffS * 1000UL;  // a compressor's minimum off time
}
