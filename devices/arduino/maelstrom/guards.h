// Per-output safety the board keeps by itself, whatever the host says or fails to say
// (docs/serial-protocol.md, "High limits, fallback thermostat, per-channel renewal"):
//
// * a high limit: the output is bound to a probe; a reading at or above the limit, or a
//   probe that keeps failing (`ERR` for FAULT_READINGS readings in a row: unplugged,
//   CRC, the power-on 85.0 the probe code reports as `conv`), forces the output off and
//   latches until the host clears it (`R`);
// * a fallback thermostat: while the host is silent (the watchdog fired) an on/off
//   thermostat with a differential and a minimum off time holds the output;
//
// Pure logic, no I/O: the sketch feeds readings in and switches what it is told.
// Nothing here outlives a reset: the host configures it again after every hello.
#ifndef MAELSTROM_GUARDS_H
#define MAELSTROM_GUARDS_H

#include <stdint.h>

const uint8_t NO_SENSOR = 0xFF;
// A probe that fails this many readings in a row (≈ 1 s each) trips the limit: one loose
// contact now and then is ridden through (the host rides through it too).
const uint8_t FAULT_READINGS = 3;

struct ChannelGuard {
  // high limit
  uint8_t limitSensor = NO_SENSOR;
  int16_t limitRaw = 0;  // 1/16 C
  uint8_t faults = 0;    // failed readings in a row
  bool tripped = false;
  bool tripError = false;  // tripped by a failing probe rather than a value
  int16_t tripRaw = 0;     // the reading that tripped it (when !tripError)
  uint8_t tripWhy = 0;     // the ProbeError that tripped it (when tripError)

  // fallback thermostat
  uint8_t fallbackSensor = NO_SENSOR;
  bool fallbackCools = false;
  int16_t fallbackSetpoint = 0;  // 1/16 C
  int16_t fallbackDiff = 0;      // 1/16 C, > 0
  uint16_t fallbackMinOffS = 0;

  // Another reading of a probe: true when it trips the limit just now.
  bool limitReading(uint8_t sensor, bool ok, int16_t raw, uint8_t error);

  // The fallback thermostat's decision for a reading of its probe, given whether the
  // output is on and how long it has been off.
  bool fallbackWants(bool on, bool ok, int16_t raw, uint32_t offForMs) const;

  void clearTrip() {
    tripped = false;
    faults = 0;
  }
};

#endif
