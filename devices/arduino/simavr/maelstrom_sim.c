/*
 * maelstrom-sim: run the compiled Maelstrom sketch in simavr as an Arduino Uno
 * (ATmega328P, 16 MHz), with
 *   - its UART on a pseudo-terminal, so the Maelstrom controller (or a test) opens it
 *     like /dev/ttyACM0. Like an Uno, the board resets when the host opens the port
 *     (DTR) and waits --boot-ms (the bootloader) before the sketch starts again. A pty
 *     has no DTR: an open is seen as the master no longer failing with EIO, so a close
 *     and reopen within a millisecond goes unnoticed;
 *   - virtual DS18B20 probes on the 1-Wire pin (D2) with the 4.7 kOhm pull-up,
 *     modelled at the level of 1-Wire time slots: reset/presence, Search ROM,
 *     Match/Skip ROM, Convert T, Read/Write Scratchpad, Recall E2, Read Power Supply,
 *     parasite power (a probe browns out unless the line is driven high while it
 *     converts);
 *   - a report on stdout of every pin change on D3..D13.
 *
 * Usage: maelstrom-sim [--probe RAW[:parasite][:unplugged]]... [--no-pullup]
 *                      [--speed X] [--boot-ms N] [--conversion-ms N] firmware.elf
 *
 * stdout (one event a line): "pty /dev/pts/N", "probe <i> <ROM>", "pin <n> <0|1>",
 * "reset …", "host closed the port", "copy-scratchpad <i>" (an EEPROM write on a
 * probe: the sketch must never do it), and at the end "stack <used> of <free> free
 * bytes" (the deepest the stack reached). simavr prints a few lines of its own.
 * stdin (fault injection): "temp <i> <raw>", "plug <i> <0|1>", "powercycle <i>",
 * "crc <i> <0|1>" (corrupt the scratchpad CRC), "input <pin> <0|1>", "quit".
 * The simulation runs in real time (--speed 1; 0 = as fast as it can); EOF on stdin
 * ends it.
 *
 * Build: make (needs Debian's libsimavr-dev), or
 *   cc -O2 -I/usr/include/simavr maelstrom_sim.c -lsimavr -lutil -o maelstrom-sim
 */
#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "avr_ioport.h"
#include "avr_uart.h"
#include "sim_avr.h"
#include "sim_elf.h"
#include "sim_irq.h"
#include "sim_time.h"

#define MAX_PROBES 8
#define ONEWIRE_PIN 2
#define US(x) ((avr_cycle_count_t)(x) * 16) /* 16 MHz */

/* ---- Arduino Uno pin numbers -> ATmega328P ports ------------------------------- */

static char pin_port(int pin) { return pin < 8 ? 'D' : 'B'; }
static int pin_bit(int pin) { return pin < 8 ? pin : pin - 8; }

static avr_t *avr;

static avr_irq_t *pin_irq(int pin) {
  return avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ(pin_port(pin)), pin_bit(pin));
}

static uint8_t crc8(const uint8_t *data, int len) {
  uint8_t crc = 0;
  while (len--) {
    uint8_t b = *data++;
    for (int i = 0; i < 8; i++) {
      uint8_t mix = (crc ^ b) & 1;
      crc >>= 1;
      if (mix) crc ^= 0x8C;
      b >>= 1;
    }
  }
  return crc;
}

/* ---- DS18B20 model -------------------------------------------------------------- */

enum probe_state { P_IDLE, P_RX, P_TX, P_SEARCH, P_STATUS };
enum rx_purpose { RX_ROM_CMD, RX_MATCH, RX_FUNC, RX_WRITE_PAD };
enum status_kind { ST_CONVERSION, ST_POWER, ST_DONE };

typedef struct {
  uint8_t rom[8];
  int16_t temp; /* what it measures, 1/16 C */
  uint8_t pad[9];
  uint8_t ee[3]; /* TH, TL, config in EEPROM */
  bool plugged, parasite, bad_crc;

  enum probe_state state;
  enum rx_purpose purpose;
  enum status_kind status;
  uint8_t buf[9];
  int nbits, pos, phase; /* phase: search 0 bit, 1 complement, 2 direction */
  bool converting, strong_lost;
  bool slot_read; /* this slot was a read slot for this probe: its end is not a write */
  avr_cycle_count_t conv_done, weak_since;
} probe_t;

static probe_t probes[MAX_PROBES];
static int probe_count;
static bool pullup = true;
static avr_cycle_count_t conversion_cycles = US(600000);

static struct {
  bool master_low, strong, presence, slave_low;
  avr_cycle_count_t fell_at;
} bus;

static void power_on(probe_t *p) {
  static const uint8_t power_on_pad[8] = {0x50, 0x05, 0, 0, 0, 0xFF, 0x0C, 0x10};
  memcpy(p->pad, power_on_pad, 8);
  memcpy(p->pad + 2, p->ee, 3); /* 85.0 C, TH/TL/config from EEPROM */
  p->state = P_IDLE;
  p->converting = false;
}

static void start_rx(probe_t *p, enum rx_purpose purpose, int nbits) {
  p->state = P_RX;
  p->purpose = purpose;
  p->nbits = nbits;
  p->pos = 0;
  memset(p->buf, 0, sizeof p->buf);
}

static void start_tx(probe_t *p, const uint8_t *data, int nbytes) {
  p->state = P_TX;
  memcpy(p->buf, data, nbytes);
  p->nbits = nbytes * 8;
  p->pos = 0;
}

static void finish_conversion(probe_t *p, avr_cycle_count_t now) {
  if (!p->converting || now < p->conv_done) return;
  p->converting = false;
  if (p->parasite && (p->strong_lost || (p->weak_since && p->conv_done - p->weak_since > US(10)))) {
    power_on(p); /* a parasite probe without the strong pull-up browns out */
    return;
  }
  /* lower resolutions leave the low bits undefined; the model clears them */
  int shift = 3 - ((p->pad[4] >> 5) & 3);
  uint16_t raw = (uint16_t)p->temp & (uint16_t)~((1 << shift) - 1);
  p->pad[0] = raw & 0xFF;
  p->pad[1] = raw >> 8;
}

static void function_command(probe_t *p, uint8_t cmd, avr_cycle_count_t now) {
  int index = (int)(p - probes);
  switch (cmd) {
    case 0x44: /* Convert T */
      p->converting = true;
      p->strong_lost = false;
      p->conv_done = now + conversion_cycles;
      p->weak_since = now;
      p->state = P_STATUS;
      p->status = ST_CONVERSION;
      break;
    case 0xBE: /* Read Scratchpad */
      p->pad[8] = crc8(p->pad, 8) ^ (p->bad_crc ? 0x5A : 0);
      start_tx(p, p->pad, 9);
      break;
    case 0x4E: /* Write Scratchpad: TH, TL, config */
      start_rx(p, RX_WRITE_PAD, 24);
      break;
    case 0x48: /* Copy Scratchpad: writes the probe's EEPROM */
      printf("copy-scratchpad %d\n", index);
      memcpy(p->ee, p->pad + 2, 3);
      p->state = P_STATUS;
      p->status = ST_DONE;
      break;
    case 0xB8: /* Recall E2 */
      memcpy(p->pad + 2, p->ee, 3);
      p->state = P_STATUS;
      p->status = ST_DONE;
      break;
    case 0xB4: /* Read Power Supply */
      p->state = P_STATUS;
      p->status = ST_POWER;
      break;
    default:
      p->state = P_IDLE;
  }
}

static void rx_complete(probe_t *p, avr_cycle_count_t now) {
  switch (p->purpose) {
    case RX_ROM_CMD:
      switch (p->buf[0]) {
        case 0xF0: /* Search ROM */
          p->state = P_SEARCH;
          p->pos = 0;
          p->phase = 0;
          break;
        case 0xCC: /* Skip ROM */
          start_rx(p, RX_FUNC, 8);
          break;
        case 0x55: /* Match ROM */
          start_rx(p, RX_MATCH, 64);
          break;
        default: /* Read ROM, Alarm Search: not needed here */
          p->state = P_IDLE;
      }
      break;
    case RX_MATCH:
      if (memcmp(p->buf, p->rom, 8) == 0) {
        start_rx(p, RX_FUNC, 8);
      } else {
        p->state = P_IDLE;
      }
      break;
    case RX_FUNC:
      function_command(p, p->buf[0], now);
      break;
    case RX_WRITE_PAD:
      p->pad[2] = p->buf[0];
      p->pad[3] = p->buf[1];
      p->pad[4] = (p->buf[2] & 0x60) | 0x1F;
      p->state = P_IDLE;
      break;
  }
}

static int rom_bit(const uint8_t *bytes, int i) { return (bytes[i / 8] >> (i % 8)) & 1; }

/* A read slot began: the bit this probe puts on the line (1 = leaves it high). */
static int read_slot(probe_t *p, avr_cycle_count_t now) {
  int bit = 1;
  p->slot_read = p->state == P_TX || p->state == P_STATUS || (p->state == P_SEARCH && p->phase < 2);
  switch (p->state) {
    case P_TX:
      bit = rom_bit(p->buf, p->pos++);
      if (p->pos == p->nbits) p->state = P_IDLE;
      break;
    case P_SEARCH:
      if (p->phase == 0) bit = rom_bit(p->rom, p->pos);
      if (p->phase == 1) bit = !rom_bit(p->rom, p->pos);
      if (p->phase < 2) p->phase++;
      break;
    case P_STATUS:
      if (p->status == ST_CONVERSION) bit = now >= p->conv_done;
      if (p->status == ST_POWER) bit = !p->parasite;
      break;
    default:
      break;
  }
  return bit;
}

/* A write slot ended with `bit` (or a read slot: only receiving states care). */
static void write_slot(probe_t *p, int bit, avr_cycle_count_t now) {
  if (p->state == P_RX) {
    if (bit) p->buf[p->pos / 8] |= 1 << (p->pos % 8);
    if (++p->pos == p->nbits) rx_complete(p, now);
  } else if (p->state == P_SEARCH && p->phase == 2) {
    if (bit != rom_bit(p->rom, p->pos)) {
      p->state = P_IDLE; /* lost this branch of the search */
    } else if (++p->pos == 64) {
      start_rx(p, RX_FUNC, 8);
    } else {
      p->phase = 0;
    }
  }
}

/* ---- the 1-Wire line --------------------------------------------------------- */

static void drive_line(void) {
  avr_ioport_state_t st;
  avr_ioctl(avr, AVR_IOCTL_IOPORT_GETSTATE('D'), &st);
  if (st.ddr & (1 << ONEWIRE_PIN)) return; /* the AVR drives it: PIN follows PORT */
  bool high = (pullup || bus.strong) && !bus.presence && !bus.slave_low;
  avr_raise_irq(pin_irq(ONEWIRE_PIN), high);
}

static avr_cycle_count_t presence_end(avr_t *a, avr_cycle_count_t when, void *param) {
  (void)a, (void)when, (void)param;
  bus.presence = false;
  drive_line();
  return 0;
}

static avr_cycle_count_t presence_start(avr_t *a, avr_cycle_count_t when, void *param) {
  (void)when, (void)param;
  bus.presence = true;
  drive_line();
  avr_cycle_timer_register(a, US(120), presence_end, NULL);
  return 0;
}

static avr_cycle_count_t slave_release(avr_t *a, avr_cycle_count_t when, void *param) {
  (void)a, (void)when, (void)param;
  bus.slave_low = false;
  drive_line();
  return 0;
}

static void on_fall(avr_cycle_count_t now) {
  bus.fell_at = now;
  bool low = false;
  for (int i = 0; i < probe_count; i++) {
    if (probes[i].plugged && !read_slot(&probes[i], now)) low = true;
  }
  if (low) { /* hold the line low past the master's sampling point, as a DS18B20 does */
    bus.slave_low = true;
    avr_cycle_timer_register(avr, US(30), slave_release, NULL);
  }
}

static void on_rise(avr_cycle_count_t now) {
  avr_cycle_count_t low = now - bus.fell_at;
  bool any = false;
  for (int i = 0; i < probe_count; i++) {
    probe_t *p = &probes[i];
    if (!p->plugged) continue;
    any = true;
    if (low >= US(400)) {
      if (p->state == P_STATUS && p->status == ST_CONVERSION) {
        p->state = P_IDLE; /* a reset ends the status slots, not the conversion */
      }
      start_rx(p, RX_ROM_CMD, 8);
    } else if (!p->slot_read) {
      write_slot(p, low < US(15), now);
    }
    p->slot_read = false;
  }
  if (low >= US(400) && any) avr_cycle_timer_register(avr, US(30), presence_start, NULL);
}

/* Runs one cycle after any write to PORTD/DDRD, when both registers are settled. */
static avr_cycle_count_t line_changed(avr_t *a, avr_cycle_count_t when, void *param) {
  (void)when, (void)param;
  avr_ioport_state_t st;
  avr_ioctl(a, AVR_IOCTL_IOPORT_GETSTATE('D'), &st);
  uint8_t m = 1 << ONEWIRE_PIN;
  bool master_low = (st.ddr & m) && !(st.port & m);
  bool strong = (st.ddr & m) && (st.port & m);
  avr_cycle_count_t now = a->cycle;

  for (int i = 0; i < probe_count; i++) {
    probe_t *p = &probes[i];
    finish_conversion(p, now);
    if (p->converting && p->parasite) {
      if (strong && p->weak_since && now - p->weak_since > US(10)) p->strong_lost = true;
      if (strong) {
        p->weak_since = 0;
      } else if (!p->weak_since) {
        p->weak_since = now;
      }
    }
  }
  bus.strong = strong;
  if (master_low && !bus.master_low) on_fall(now);
  if (!master_low && bus.master_low) on_rise(now);
  bus.master_low = master_low;
  drive_line();
  return 0;
}

static void port_d_written(avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq, (void)value, (void)param;
  avr_cycle_timer_register(avr, 1, line_changed, NULL);
}

/* ---- output pins ----------------------------------------------------------------- */

static void pin_changed(avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq;
  printf("pin %d %d\n", (int)(intptr_t)param, value ? 1 : 0);
}

static void set_input(int pin, int level) {
  /* An "external" level survives the port updates that re-raise input pull-ups. */
  static uint8_t mask[2], value[2];
  int port = pin_port(pin) == 'D' ? 0 : 1;
  mask[port] |= 1 << pin_bit(pin);
  value[port] = (value[port] & ~(1 << pin_bit(pin))) | (level ? 1 << pin_bit(pin) : 0);
  avr_ioport_external_t ext = {.name = pin_port(pin), .mask = mask[port], .value = value[port]};
  avr_ioctl(avr, AVR_IOCTL_IOPORT_SET_EXTERNAL(pin_port(pin)), &ext);
  avr_raise_irq(pin_irq(pin), level);
}

/* ---- UART <-> pseudo-terminal --------------------------------------------------- */

static int pty_master = -1;
static avr_irq_t *uart_in;
static bool uart_xon;
static bool attached;        /* the host has the port open */
static bool reset_requested; /* DTR: opening the port resets the board */
static uint8_t rx_buf[4096], tx_buf[4096];
static size_t rx_len, rx_done, tx_len;

static void uart_out(avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq, (void)param;
  if (tx_len < sizeof tx_buf) tx_buf[tx_len++] = (uint8_t)value;
}

static void uart_xon_hook(avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq, (void)value, (void)param;
  uart_xon = true;
}

static void uart_xoff_hook(avr_irq_t *irq, uint32_t value, void *param) {
  (void)irq, (void)param;
  if (value) uart_xon = false;
}

static void pump_uart(void) {
  if (!attached) {
    /* While nobody has the slave side open, reading the master fails with EIO. */
    char probe;
    ssize_t n = read(pty_master, &probe, 1);
    tx_len = 0; /* nobody listening: bytes fall on the floor, as on a real UART */
    if (n < 0 && errno == EIO) return;
    attached = true;
    reset_requested = true; /* like an Uno's auto-reset when the host opens the port */
    rx_len = rx_done = 0;
    return;
  }
  if (tx_len) {
    ssize_t n = write(pty_master, tx_buf, tx_len);
    if (n > 0) {
      memmove(tx_buf, tx_buf + n, tx_len - n);
      tx_len -= n;
    } else if (n < 0 && errno != EAGAIN) {
      tx_len = 0; /* nobody listening: bytes fall on the floor, as on a real UART */
    }
  }
  if (rx_done == rx_len) {
    ssize_t n = read(pty_master, rx_buf, sizeof rx_buf);
    if (n < 0 && errno == EIO) { /* the host closed the port */
      attached = false;
      printf("host closed the port\n");
    }
    rx_len = n > 0 ? (size_t)n : 0;
    rx_done = 0;
  }
  while (uart_xon && rx_done < rx_len) avr_raise_irq(uart_in, rx_buf[rx_done++]);
}

/* ---- control on stdin ----------------------------------------------------------- */

static bool quit;

static void command(const char *line) {
  int i, v;
  if (sscanf(line, "temp %d %d", &i, &v) == 2 && i >= 0 && i < probe_count) {
    probes[i].temp = (int16_t)v;
  } else if (sscanf(line, "plug %d %d", &i, &v) == 2 && i >= 0 && i < probe_count) {
    if (v && !probes[i].plugged) power_on(&probes[i]);
    probes[i].plugged = v;
  } else if (sscanf(line, "powercycle %d", &i) == 1 && i >= 0 && i < probe_count) {
    power_on(&probes[i]);
  } else if (sscanf(line, "crc %d %d", &i, &v) == 2 && i >= 0 && i < probe_count) {
    probes[i].bad_crc = v;
  } else if (sscanf(line, "input %d %d", &i, &v) == 2 && i >= 3 && i <= 13) {
    set_input(i, v);
  } else if (strncmp(line, "quit", 4) == 0) {
    quit = true;
  } else {
    fprintf(stderr, "maelstrom-sim: unknown command: %s\n", line);
  }
}

static void pump_stdin(void) {
  static char line[128];
  static size_t len;
  char c;
  ssize_t n;
  while ((n = read(STDIN_FILENO, &c, 1)) == 1) {
    if (c == '\n') {
      line[len] = '\0';
      command(line);
      len = 0;
    } else if (len < sizeof line - 1) {
      line[len++] = c;
    }
  }
  if (n == 0) quit = true; /* stdin closed: whoever started us is gone */
}

/* ---- real time ------------------------------------------------------------------ */

static double speed = 1.0;
static struct timespec started;

static double wall_us(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (now.tv_sec - started.tv_sec) * 1e6 + (now.tv_nsec - started.tv_nsec) / 1e3;
}

static avr_cycle_count_t every_ms(avr_t *a, avr_cycle_count_t when, void *param) {
  (void)param;
  pump_uart();
  pump_stdin();
  if (speed > 0) {
    double ahead = a->cycle / 16.0 / speed - wall_us();
    if (ahead > 2000) usleep((useconds_t)ahead);
  }
  return when + US(1000);
}

/* ---- stack use: paint the free RAM, see how far the stack reached ------------------- */

#define PAINT 0xA5
static uint16_t ram_free_start;

static void paint_stack_below_sp(void) {
  uint16_t sp = avr->data[R_SPL] | (avr->data[R_SPH] << 8);
  for (uint32_t a = ram_free_start; a < sp && a <= avr->ramend; a++) avr->data[a] = PAINT;
}

static void paint_stack(const elf_firmware_t *fw) {
  ram_free_start = 0x100 + fw->datasize + fw->bsssize; /* ATmega328P RAM starts at 0x100 */
  paint_stack_below_sp();
}

static void report_stack(void) {
  uint32_t a = ram_free_start;
  while (a <= avr->ramend && avr->data[a] == PAINT) a++;
  printf("stack %u of %u free bytes\n", (unsigned)(avr->ramend + 1 - a),
         (unsigned)(avr->ramend + 1 - ram_free_start));
}

/* ---- resets: the host opening the port (DTR), or the AVR's own watchdog ------------ */

static uint32_t boot_ms = 500; /* Optiboot waits this long for an upload after a reset */

static void after_reset(bool by_host) {
  /* avr_reset() zeroes the I/O registers but not the pins' cached IRQ values, so a
     pin raised to the same level again would be filtered out: forget them. */
  for (char port = 'B'; port <= 'D'; port++) {
    for (int bit = 0; bit < 8; bit++) {
      avr_irq_t *irq = avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ(port), bit);
      int pin = port == 'D' ? bit : port == 'B' ? bit + 8 : -1;
      if (irq->value && pin >= 3 && pin <= 13) printf("pin %d 0\n", pin);
      irq->value = 0;
    }
  }
  memset(&bus, 0, sizeof bus);
  for (int i = 0; i < probe_count; i++) {
    probes[i].state = P_IDLE; /* the probes keep power: only their bus state resets */
  }
  drive_line();
  uart_xon = false;
  rx_len = rx_done = tx_len = 0;
  paint_stack_below_sp();
  printf("reset%s\n", by_host ? " (the host opened the port)" : "");
  if (by_host) avr->cycle += US(boot_ms * 1000); /* the bootloader's wait */
  avr_cycle_timer_register(avr, US(1000), every_ms, NULL);
}

/* ---- main ------------------------------------------------------------------------ */

static void usage(void) {
  fprintf(stderr,
          "usage: maelstrom-sim [--probe RAW[:parasite][:unplugged]]... [--no-pullup]\n"
          "                     [--speed X] [--boot-ms N] [--conversion-ms N] firmware.elf\n");
  exit(2);
}

static void add_probe(const char *spec) {
  if (probe_count == MAX_PROBES) usage();
  probe_t *p = &probes[probe_count];
  memset(p, 0, sizeof *p);
  uint8_t rom[8] = {0x28, (uint8_t)(0x11 * (probe_count + 1)), 0x3A, 0x1C, 0x62, 0x16, 0x03, 0};
  rom[7] = crc8(rom, 7);
  memcpy(p->rom, rom, 8);
  p->temp = (int16_t)strtol(spec, NULL, 10);
  p->parasite = strstr(spec, ":parasite") != NULL;
  p->plugged = strstr(spec, ":unplugged") == NULL;
  uint8_t ee[3] = {0x4B, 0x46, 0x7F}; /* factory TH, TL, 12-bit */
  memcpy(p->ee, ee, 3);
  power_on(p);
  probe_count++;
}

int main(int argc, char *argv[]) {
  const char *firmware = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--probe") && i + 1 < argc) {
      add_probe(argv[++i]);
    } else if (!strcmp(argv[i], "--no-pullup")) {
      pullup = false;
    } else if (!strcmp(argv[i], "--speed") && i + 1 < argc) {
      speed = atof(argv[++i]);
    } else if (!strcmp(argv[i], "--boot-ms") && i + 1 < argc) {
      boot_ms = (uint32_t)atoi(argv[++i]);
    } else if (!strcmp(argv[i], "--conversion-ms") && i + 1 < argc) {
      conversion_cycles = US(atoi(argv[++i]) * 1000);
    } else if (argv[i][0] != '-' && !firmware) {
      firmware = argv[i];
    } else {
      usage();
    }
  }
  if (!firmware) usage();
  setvbuf(stdout, NULL, _IOLBF, 0);

  elf_firmware_t fw;
  memset(&fw, 0, sizeof fw);
  if (elf_read_firmware(firmware, &fw) != 0) {
    fprintf(stderr, "maelstrom-sim: cannot read %s\n", firmware);
    return 1;
  }
  strcpy(fw.mmcu, "atmega328p");
  fw.frequency = 16000000;
  avr = avr_make_mcu_by_name(fw.mmcu);
  if (!avr) return 1;
  avr_init(avr);
  avr->log = LOG_ERROR;
  avr_load_firmware(avr, &fw);
  paint_stack(&fw);

  /* the UART, on a raw pseudo-terminal */
  int slave;
  char name[256];
  if (openpty(&pty_master, &slave, name, NULL, NULL) < 0) {
    perror("openpty");
    return 1;
  }
  struct termios tio;
  tcgetattr(slave, &tio);
  cfmakeraw(&tio);
  tcsetattr(slave, TCSANOW, &tio); /* no echo, no CR/LF games */
  close(slave); /* from now on the master reads EIO until the host opens the port */
  fcntl(pty_master, F_SETFL, O_NONBLOCK);
  fcntl(STDIN_FILENO, F_SETFL, O_NONBLOCK);

  uint32_t flags = 0;
  avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
  flags &= ~(AVR_UART_FLAG_STDIO | AVR_UART_FLAG_POOL_SLEEP);
  avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT),
                          uart_out, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON),
                          uart_xon_hook, NULL);
  avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF),
                          uart_xoff_hook, NULL);
  uart_in = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);

  /* the 1-Wire bus on D2 */
  avr_irq_t *port_d = avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('D'), 0);
  avr_irq_register_notify(port_d + IOPORT_IRQ_DIRECTION_ALL, port_d_written, NULL);
  avr_irq_register_notify(port_d + IOPORT_IRQ_REG_PORT, port_d_written, NULL);
  drive_line();

  /* every other pin: report changes */
  for (int pin = 3; pin <= 13; pin++) {
    avr_irq_register_notify(pin_irq(pin), pin_changed, (void *)(intptr_t)pin);
  }

  printf("pty %s\n", name);
  for (int i = 0; i < probe_count; i++) {
    printf("probe %d ", i);
    for (int b = 0; b < 8; b++) printf("%02X", probes[i].rom[b]);
    printf("%s\n", probes[i].parasite ? " parasite" : "");
  }

  clock_gettime(CLOCK_MONOTONIC, &started);
  avr_cycle_timer_register(avr, US(1000), every_ms, NULL);
  for (uint32_t n = 0; !quit; n++) {
    int state = avr_run(avr);
    if (state == cpu_Done || state == cpu_Crashed) {
      fprintf(stderr, "maelstrom-sim: the AVR stopped (state %d)\n", state);
      return 1;
    }
    if (reset_requested) {
      reset_requested = false;
      avr_reset(avr);
      after_reset(true);
    } else if ((n & 0xFF) == 0 && !avr_cycle_timer_status(avr, every_ms, NULL)) {
      after_reset(false); /* a reset we did not ask for wiped our timers: the watchdog */
    }
  }
  report_stack();
  return 0;
}
