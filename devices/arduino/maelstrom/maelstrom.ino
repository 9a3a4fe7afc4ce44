// Maelstrom reference board: DS18B20 probes and relay/SSR outputs for the Maelstrom
// controller, speaking the serial line protocol of docs/serial-protocol.md.
//
// Wiring notes, building and flashing: devices/arduino/README.md.
// Nothing this sketch does outlives a reset: it never writes EEPROM or flash.

#include <avr/pgmspace.h>
#include <avr/wdt.h>

#include "link.h"
#include "onewire.h"
#include "probes.h"

// ---- configuration: edit to match your wiring ------------------------------------

#define BOARD_NAME "maelstrom-uno"  // no spaces; shown in the hello
#define FIRMWARE_VERSION "1.0.0"

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
  lastValidLineMs = millis();
  watchdogTripped = false;
}

void handleCommand(char *body) {
  char *f[4];
  uint8_t n = splitFields(body, f, 4);
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
      feedWatchdog();
      setOutput(i, value == 1);
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

void serviceWatchdog(uint32_t now) {
  bool alive = now - lastValidLineMs < watchdogMs;
  digitalWrite(LED_BUILTIN, alive ? HIGH : LOW);
  if (alive || watchdogTripped) return;
  watchdogTripped = true;  // once per silence; the next valid line re-arms it
  if (!anyOutputOn()) return;
  allOutputsOff();
  sendLog(PSTR("watchdog: outputs off"));
}

void serviceProbes(uint32_t now) {
  ProbeReading reading;
  switch (probes.poll(now, reading)) {
    case Probes::READING:
      sendReading(reading);
      break;
    case Probes::CYCLE_DONE:
      for (uint8_t i = 0; i < INPUT_COUNT; i++) sendInput(i);
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
  PGM_P cause = PSTR("unknown");
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
