// types.ts - typed job classes: the map from each class to its args tuple that
// `nexusctl types` writes (NexusJobs), and how Client's methods read it.

/** Each job class and the args tuple its handler takes, as `nexusctl types -c FILE` writes it:
 * `{ "email.welcome": readonly [userId: number, values?: object]; ... }`. */
export type JobMap = { readonly [cls: string]: readonly unknown[] };

/** The class names of a map (any string for the default map). */
export type ClassOf<Jobs extends JobMap> = Extract<keyof Jobs, string>;

/** What follows the class in enqueue(): the args, which may be left out only when the class
 * takes none ([] fits them), then the options. */
export type ArgsThen<Args extends readonly unknown[], Options> = [] extends Args
  ? [args?: Args, options?: Options]
  : [args: Args, options?: Options];
