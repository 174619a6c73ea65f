// Preloaded into a server process (NODE_OPTIONS=--require) to run it with a wrong clock:
// Date reads TEST_CLOCK_OFFSET_MS milliseconds ahead (negative: behind), as on a machine
// whose NTP is off. Timers and performance.now() are untouched.
const offset = Number(process.env.TEST_CLOCK_OFFSET_MS ?? 0);
const RealDate = Date;

class ShiftedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(RealDate.now() + offset);
    else super(...args);
  }

  static now() {
    return RealDate.now() + offset;
  }
}

globalThis.Date = ShiftedDate;
