import { taskListScreens } from './list.js';
import { runScreens } from './runs.js';
import { taskScreens } from './task.js';

// Tasks of a registry (the Tasks tab): the task list and create form, one task with its triggers,
// timers, credentials and Run now, the run list and one run with its log followed live.
export const tasksScreens = [...taskListScreens, ...taskScreens, ...runScreens];
