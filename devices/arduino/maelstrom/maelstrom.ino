// Maelstrom reference board: DS18B20 probes and relay/SSR outputs for the Maelstrom
// controller, speaking the serial line protocol of docs/serial-protocol.md.
//
// Wiring notes, building and flashing: devices/arduino/README.md.
// Nothing this sketch does outlives a reset: it never writes EEPROM or flash.

#include <avr/pgmspace.h>
#include <avr/wdt.h>

#include "guards.h"
#include "link.h"
#include "onewire.h"
#include "probes.h"

// ---- configuration: edit to match your wiring ------------------------------------

#define BOARD_NAME "maelstrom-uno"  // no spaces; shown in the hello
#define FIRMWARE_VERSION "1.1.0"

const uint32_t BAUD = 57600;
const uint8_t ONEWIRE_PIN = 2;  // DS18B20 data, with 4.7 kOhm to 5 V

struct OutputPin {
  uint8_t channel;  // the actuator's `channel` in the Maelstrom device config
  uint8_t pin;
  bool activeLow;  // true for relay modules that switch on a LOW input (see README)
};

// A 4-relay module on D4..D7 (channels 1..4), or SSRs. Channel 1 = kettle element
// SSR or fridge heater, 2 = fridge compressor, as the simulated board uses them.
const OutputPin OUTPUTS[] = {
    {1, 4, false},
    {2, 5, false},
    {3, 6, false},
    {4, 7, false},
};

struct InputPin {
  uint8_t channel;  // the digital input's `channel` in the device config
  uint8_t pin;
  bool pullUp;  // internal pull-up: a switch to GND reads 0 when closed
};

// Optional: e.g. a pilot-light sensor and a high-liquid-level float switch.
const InputPin INPUTS[] = {
    {8, 8, true},
    {9, 9, true},
};

const uint16_t DEFAULT_WATCHDOG_S = 10;  // until the host sets its own with W
const uint16_t MAX_WATCHDOG_S = 3600;
const uint8_t DEBOUNCE_MS = 50;
const uint16_t GARBAGE_LOG_MS = 30000;  // report bad received lines at most this often

// The AVR's own watchdog resets the board if the sketch ever hangs, which switches
// every output off. Optiboot (Uno) handles it; some old Nano bootloaders do not
// and loop on a watchdog reset: set 0 for those.
#define USE_HW_WATCHDOG 1

// ---- end of configuration ---------------------------------------------------------

const uint8_t OUTPUT_COUNT = sizeof(OUTPUTS) / sizeof(OUTPUTS[0]);
const uint8_t INPUT_COUNT = sizeof(INPUTS) / sizeof(INPUTS[0]);

OneWireBus bus(ONEWIRE_PIN);
Probes probes(bus);
LineReader reader;
LineWriter line(Serial);

bool outputOn[OUTPUT_COUNT];
// Each output that is on must be renewed (`O <ch> 1`) within the watchdog time, or it
// goes off by itself: the host renews an output only while the loop that drives it
// is deciding, so one hung loop loses its outputs while the others run on.
uint32_t renewedMs[OUTPUT_COUNT];
uint32_t offSinceMs[OUTPUT_COUNT];  // when each output last went off (0: the reset)
ChannelGuard guards[OUTPUT_COUNT];
bool inFallback = false;  // the host is silent and a fallback thermostat holds outputs
uint32_t fallbackSinceMs = 0;
bool inputLevel[INPUT_COUNT];
uint32_t inputChangedAt[INPUT_COUNT];
uint32_t lastValidLineMs = 0;
uint32_t watchdogMs = DEFAULT_WATCHDOG_S * 1000UL;
bool watchdogTripped = false;
// After a reset nothing may switch on until the host has set the watchdog (`W`), which
// it does only once it has read our hello: an `O … 1` already in flight when we reset
// would otherwise restart a compressor that the reset has just stopped.
bool armed = false;
bool busShorted = false;
uint16_t garbageReported = 0;
uint32_t garbageLoggedMs = 0;

// ---- outputs and inputs ---------------------------------------------------------------

void setOutput(uint8_t i, bool on) {
  if (on && guards[i].tripped) on = false;  // a tripped high limit holds, whoever asks
  if (outputOn[i] && !on) offSinceMs[i] = millis();
  outputOn[i] = on;
  digitalWrite(OUTPUTS[i].pin, on != OUTPUTS[i].activeLow ? HIGH : LOW);
}

void allOutputsOff() {
  for (uint8_t i = 0; i < OUTPUT_COUNT; i++) setOutput(i, false);
}

bool anyOutputOn() {
  for (uint8_t i = 0; i < OUTPUT_COUNT; i++) {
    if (outputOn[i]) return true;
  }
  return false;
}

int8_t outputIndex(uint16_t channel) {
  for (uint8_t i = 0; i < OUTPUT_COUNT; i++) {
    if (OUTPUTS[i].channel == channel) return i;
  }
  return -1;
}

void setupPins() {
  for (uint8_t i = 0; i < OUTPUT_COUNT; i++) {
    // Set the off level before the pin becomes an output, so an active-low relay
    // never clicks on at start-up.
    digitalWrite(OUTPUTS[i].pin, OUTPUTS[i].activeLow ? HIGH : LOW);
    pinMode(OUTPUTS[i].pin, OUTPUT);
    outputOn[i] = false;
  }
  for (uint8_t i = 0; i < INPUT_COUNT; i++) {
    pinMode(INPUTS[i].pin, INPUTS[i].pullUp ? INPUT_PULLUP : INPUT);
  }
  delay(2);  // let the pull-ups settle before the first read
  for (uint8_t i = 0; i < INPUT_COUNT; i++) {
    inputLevel[i] = digitalRead(INPUTS[i].pin) == HIGH;
    inputChangedAt[i] = 0;
  }
  pinMode(LED_BUILTIN, OUTPUT);
}

// ---- board -> host lines -----------------------------------------------------------------

void sendLog(const char *progmemText) { line.begin('L').space().textP(progmemText).send(); }

void sendAck(uint16_t seq) { line.begin('K').number(seq).send(); }

void sendNak(uint16_t seq, const char *progmemWhy) {
  line.begin('N').number(seq).space().textP(progmemWhy).send();
}

void sendInput(uint8_t i) { line.begin('D').number(INPUTS[i].channel).number(inputLevel[i]).send(); }

void sendSafetyStatus(uint32_t now);

void sendHello() {
  line.begin('H').number(1).space().text(BOARD_NAME).space().text(FIRMWARE_VERSION).send();
  for (uint8_t i = 0; i < probes.count(); i++) {
    line.begin('S').number(i).space();
    const uint8_t *rom = probes.rom(i);
    for (uint8_t b = 0; b < 8; b++) line.hex(rom[b]);
    line.send();
  }
  for (uint8_t i = 0; i < OUTPUT_COUNT; i++) line.begin('A').number(OUTPUTS[i].channel).send();
  for (uint8_t i = 0; i < INPUT_COUNT; i++) {
    line.begin('I').number(INPUTS[i].channel).number(inputLevel[i]).send();
  }
  line.begin('E').number(probes.count()).number(OUTPUT_COUNT).number(INPUT_COUNT).send();
  if (busShorted) sendLog(PSTR("onewire: bus held low (short, or no pull-up resistor)"));
  if (probes.parasite()) sendLog(PSTR("onewire: parasite-powered probe on the bus"));
  sendSafetyStatus(millis());
}

// `C <ch> <sensor> <raw>` / `C <ch> <sensor> ERR <why>`: output ch's high limit has
// tripped (latched) on this reading; `F <ch> <0|1> <s>`: the fallback thermostat holds
// output ch, now off/on, the host silent for s seconds.
void sendTrip(uint8_t i) {
  const ChannelGuard &g = guards[i];
  line.begin('C').number(OUTPUTS[i].channel).number(g.limitSensor);
  if (!g.tripError) {
    line.number(g.tripRaw);
  } else if (g.tripWhy == PROBE_CRC) {
    line.textP(PSTR(" ERR crc"));
  } else if (g.tripWhy == PROBE_CONV) {
    line.textP(PSTR(" ERR conv"));
  } else {
    line.textP(PSTR(" ERR nc"));
  }
  line.send();
}

void sendSafetyStatus(uint32_t now) {
  for (uint8_t i = 0; i < OUTPUT_COUNT; i++) {
    if (guards[i].tripped) sendTrip(i);
    if (inFallback && guards[i].fallbackSensor != NO_SENSOR) {
      line.begin('F').number(OUTPUTS[i].channel).number(outputOn[i]);
      line.number((now - fallbackSinceMs) / 1000).send();
    }
  }
}

void sendReading(const ProbeReading &reading) {
  line.begin('T').number(reading.index);
  switch (reading.error) {
    case PROBE_OK:
      line.number(reading.raw);
      break;
    case PROBE_NC:
      line.textP(PSTR(" ERR nc"));
      break;
    case PROBE_CRC:
      line.textP(PSTR(" ERR crc"));
      break;
    case PROBE_CONV:
      line.textP(PSTR(" ERR conv"));
      break;
  }
  line.send();
}

// ---- host -> board commands ---------------------------------------------------------------

// A decimal number with no sign, at most `max`; false if `text` is anything else.
bool parseNumber(const char *text, uint32_t max, uint32_t &value) {
  value = 0;
  if (*text == '\0') return false;
  for (; *text; text++) {
    if (*text < '0' || *text > '9') return false;
    value = value * 10 + (*text - '0');
    if (value > max) return false;
  }
  return true;
}

// A decimal number with an optional '-', within lo..hi.
bool parseSigned(const char *text, int16_t lo, int16_t hi, int16_t &value) {
  bool negative = *text == '-';
  uint32_t magnitude;
  if (!parseNumber(text + negative, 32768, magnitude)) return false;
  int32_t v = negative ? -(int32_t)magnitude : (int32_t)magnitude;
  if (v < lo || v > hi) return false;
  value = (int16_t)v;
  return true;
}

// Splits `body` in place at single spaces; returns the field count, 0 when there
// are more than `max` fields or an empty one.
uint8_t splitFields(char *body, char *fields[], uint8_t max) {
  uint8_t n = 0;
  char *start = body;
  for (char *p = body;; p++) {
    if (*p != ' ' && *p != '\0') continue;
    bool end = *p == '\0';
    if (p == start || n == max) return 0;
    *p = '\0';
    fields[n++] = start;
    start = p + 1;
    if (end) return n;
  }
}

// Only output commands and the keep-alive `P` feed the watchdog: a host that is only
// reconnecting (sending `?` behind ser2net or ESP-Link) has not decided anything, and
// must not keep an element on.
void feedWatchdog() {
  uint32_t now = millis();
  lastValidLineMs = now;
  watchdogTripped = false;
  if (!inFallback) return;
  inFallback = false;
  // The host is back: what the fallback switched on stays on until the host says
  // otherwise, and the host gets one watchdog time to renew it.
  for (uint8_t i = 0; i < OUTPUT_COUNT; i++) renewedMs[i] = now;
  line.begin('L').space().textP(PSTR("fallback: host back after")).number((now - fallbackSinceMs) / 1000);
  line.textP(PSTR(" s")).send();
}

// `C <seq> <ch> <sensor> <raw>`: a high limit for output ch; `C <seq> <ch>` removes it.
void configureLimit(uint16_t seq, uint8_t n, char *f[]) {
  uint32_t channel, sensor;
  int16_t raw;
  if ((n != 3 && n != 5) || !parseNumber(f[2], 255, channel)) return sendNak(seq, PSTR("arg"));
  if (n == 5 && (!parseNumber(f[3], Probes::MAX_PROBES - 1, sensor) ||
                 !parseSigned(f[4], -32768, 32767, raw))) {
    return sendNak(seq, PSTR("arg"));
  }
  int8_t i = outputIndex(channel);
  if (i < 0) return sendNak(seq, PSTR("ch"));
  ChannelGuard &g = guards[i];
  if (n == 3) {
    g.limitSensor = NO_SENSOR;
    g.clearTrip();
  } else {
    if (g.limitSensor != sensor) g.faults = 0;
    g.limitSensor = sensor;
    g.limitRaw = raw;
  }
  sendAck(seq);
}

// `F <seq> <ch> <sensor> <h|c> <setpoint> <differential> <min off s>`: while the host is
// silent, output ch heats (h) or cools (c) towards the setpoint; `F <seq> <ch>` removes it.
void configureFallback(uint16_t seq, uint8_t n, char *f[]) {
  uint32_t channel, sensor, minOff;
  int16_t setpoint, diff;
  if ((n != 3 && n != 8) || !parseNumber(f[2], 255, channel)) return sendNak(seq, PSTR("arg"));
  bool cools = n == 8 && f[4][0] == 'c';
  if (n == 8 && (!parseNumber(f[3], Probes::MAX_PROBES - 1, sensor) || f[4][1] != '\0' ||
                 (f[4][0] != 'c' && f[4][0] != 'h') ||
                 !parseSigned(f[5], -32768, 32767, setpoint) ||
                 !parseSigned(f[6], 1, 800, diff) || !parseNumber(f[7], 3600, minOff))) {
    return sendNak(seq, PSTR("arg"));
  }
  int8_t i = outputIndex(channel);
  if (i < 0) return sendNak(seq, PSTR("ch"));
  ChannelGuard &g = guards[i];
  if (n == 3) {
    g.fallbackSensor = NO_SENSOR;
  } else {
    g.fallbackSensor = sensor;
    g.fallbackCools = cools;
    g.fallbackSetpoint = setpoint;
    g.fallbackDiff = diff;
    g.fallbackMinOffS = minOff;
  }
  sendAck(seq);
}

void handleCommand(char *body) {
  char *f[8];
  uint8_t n = splitFields(body, f, 8);
  uint32_t seq;
  if (n < 2 || !parseNumber(f[1], 65535, seq)) return;  // no sequence number: cannot answer
  if (f[0][1] != '\0') return sendNak(seq, PSTR("cmd"));
  uint32_t channel, value;
  switch (f[0][0]) {
    case '?':
      if (n != 2) return sendNak(seq, PSTR("arg"));
      sendHello();
      return sendAck(seq);
    case 'P':  // the explicit keep-alive
      if (n != 2) return sendNak(seq, PSTR("arg"));
      feedWatchdog();
      return sendAck(seq);
    case 'X':
      if (n != 2) return sendNak(seq, PSTR("arg"));
      feedWatchdog();
      allOutputsOff();
      return sendAck(seq);
    case 'W':
      if (n != 3 || !parseNumber(f[2], MAX_WATCHDOG_S, value) || value < 1) {
        return sendNak(seq, PSTR("arg"));
      }
      watchdogMs = value * 1000UL;
      armed = true;
      return sendAck(seq);
    case 'O': {
      if (n != 4 || !parseNumber(f[2], 255, channel) || !parseNumber(f[3], 1, value)) {
        return sendNak(seq, PSTR("arg"));
      }
      int8_t i = outputIndex(channel);
      if (i < 0) return sendNak(seq, PSTR("ch"));
      if (value == 1 && !armed) return sendNak(seq, PSTR("reset"));
      if (value == 1 && guards[i].tripped) return sendNak(seq, PSTR("limit"));
      feedWatchdog();
      setOutput(i, value == 1);
      renewedMs[i] = millis();
      return sendAck(seq);
    }
    case 'C':
      return configureLimit(seq, n, f);
    case 'F':
      return configureFallback(seq, n, f);
    case 'R': {  // clear a tripped high limit; the next reading judges afresh
      if (n != 3 || !parseNumber(f[2], 255, channel)) return sendNak(seq, PSTR("arg"));
      int8_t i = outputIndex(channel);
      if (i < 0) return sendNak(seq, PSTR("ch"));
      guards[i].clearTrip();
      return sendAck(seq);
    }
    default:
      return sendNak(seq, PSTR("cmd"));
  }
}

// ---- the loop's parts ----------------------------------------------------------------------

void serviceSerial() {
  int byte;
  while ((byte = Serial.read()) >= 0) {
    if (reader.feed((uint8_t)byte)) handleCommand(reader.body());
  }
}

bool anyFallback() {
  for (uint8_t i = 0; i < OUTPUT_COUNT; i++) {
    if (guards[i].fallbackSensor != NO_SENSOR) return true;
  }
  return false;
}

void serviceWatchdog(uint32_t now) {
  bool alive = now - lastValidLineMs < watchdogMs;
  digitalWrite(LED_BUILTIN, alive ? HIGH : LOW);
  if (alive) {
    for (uint8_t i = 0; i < OUTPUT_COUNT; i++) {
      if (!outputOn[i] || now - renewedMs[i] < watchdogMs) continue;
      setOutput(i, false);  // its loop stopped deciding: the host stopped renewing it
      line.begin('L').space().textP(PSTR("watchdog: output")).number(OUTPUTS[i].channel);
      line.textP(PSTR(" off (not renewed)")).send();
    }
    return;
  }
  if (watchdogTripped) return;
  watchdogTripped = true;  // once per silence; the next valid line re-arms it
  bool wasOn = anyOutputOn();
  allOutputsOff();  // the fallback starts from off: minimum off times count from here
  if (wasOn) sendLog(PSTR("watchdog: outputs off"));
  if (armed && anyFallback()) {
    inFallback = true;
    fallbackSinceMs = now;
    sendLog(PSTR("fallback: thermostat on"));
    sendSafetyStatus(now);
  }
}

// Every reading goes past the high limits, and (host silent) the fallback thermostats.
void guardReading(const ProbeReading &reading, uint32_t now) {
  bool ok = reading.error == PROBE_OK;
  for (uint8_t i = 0; i < OUTPUT_COUNT; i++) {
    ChannelGuard &g = guards[i];
    if (g.limitReading(reading.index, ok, reading.raw, reading.error)) {
      setOutput(i, false);
      sendTrip(i);
    }
    if (inFallback && g.fallbackSensor == reading.index) {
      bool want = g.fallbackWants(outputOn[i], ok, reading.raw, now - offSinceMs[i]);
      if (want != outputOn[i]) setOutput(i, want);
    }
  }
}

void serviceProbes(uint32_t now) {
  ProbeReading reading;
  switch (probes.poll(now, reading)) {
    case Probes::READING:
      sendReading(reading);
      guardReading(reading, now);
      break;
    case Probes::CYCLE_DONE:
      for (uint8_t i = 0; i < INPUT_COUNT; i++) sendInput(i);
      sendSafetyStatus(now);
      if (probes.shorted() != busShorted) {
        busShorted = probes.shorted();
        if (busShorted) {
          sendLog(PSTR("onewire: bus held low (short, or no pull-up resistor)"));
        } else {
          sendLog(PSTR("onewire: bus released"));
        }
      }
      break;
    case Probes::FOUND_NEW:
      sendHello();  // the IO list changed
      break;
    case Probes::NOTHING:
      break;
  }
}

void serviceInputs(uint32_t now) {
  for (uint8_t i = 0; i < INPUT_COUNT; i++) {
    bool level = digitalRead(INPUTS[i].pin) == HIGH;
    if (level == inputLevel[i]) {
      inputChangedAt[i] = now;
    } else if (now - inputChangedAt[i] >= DEBOUNCE_MS) {
      inputLevel[i] = level;
      inputChangedAt[i] = now;
      sendInput(i);
    }
  }
}

void serviceGarbageLog(uint32_t now) {
  if (reader.garbage() == garbageReported) return;
  if (garbageReported != 0 && now - garbageLoggedMs < GARBAGE_LOG_MS) return;
  garbageReported = reader.garbage();
  garbageLoggedMs = now;
  line.begin('L').space().textP(PSTR("rx garbage:")).number(garbageReported).send();
}

// Why the board (re)started, from MCUSR, told after the hello: a brown-out under a
// compressor's inrush, or the AVR watchdog, is worth a brewer's attention. (A bootloader
// that clears MCUSR itself leaves "unknown".)
void sendResetCause(uint8_t mcusr) {
  const char *cause = PSTR("unknown");  // in flash (PGM_P is deprecated)
  if (mcusr & _BV(WDRF)) cause = PSTR("watchdog");
  else if (mcusr & _BV(BORF)) cause = PSTR("brown-out");
  else if (mcusr & _BV(EXTRF)) cause = PSTR("external");
  else if (mcusr & _BV(PORF)) cause = PSTR("power-on");
  line.begin('L').space().textP(PSTR("reset cause:")).space().textP(cause).send();
}

void setup() {
  uint8_t mcusr = MCUSR;
  MCUSR = 0;
  wdt_disable();
  setupPins();
  Serial.begin(BAUD);
  probes.begin();
  busShorted = probes.shorted();
  lastValidLineMs = millis();
  sendHello();
  sendResetCause(mcusr);
#if USE_HW_WATCHDOG
  wdt_enable(WDTO_2S);
#endif
}

void loop() {
  serviceSerial();
  uint32_t now = millis();  // after serviceSerial, which may have just fed the watchdog
  serviceWatchdog(now);
  serviceProbes(now);
  serviceInputs(now);
  serviceGarbageLog(now);
#if USE_HW_WATCHDOG
  wdt_reset();
#endif
}
