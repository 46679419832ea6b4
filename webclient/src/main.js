// Entry point of the page: start the app, or say plainly why it could not start.
import { start } from './app.js';

start().catch((err) => {
  console.error(err);
  document.getElementById('main').textContent = `Hearken could not start: ${err}`;
});
