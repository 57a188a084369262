import winston from 'winston';

/** Logger is the winston logger every module receives; modules take a child({ component }). */
export type Logger = winston.Logger;

/** createLogger builds the provider's logger: JSON lines unless LOG_FORMAT=pretty. */
export function createLogger(level = 'info', format: 'json' | 'pretty' = 'json'): Logger {
  return winston.createLogger({
    level,
    format:
      format === 'pretty'
        ? winston.format.combine(winston.format.timestamp(), winston.format.colorize(), winston.format.simple())
        : winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn'] })],
  });
}

/** silentLogger is for tests that do not want output. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
