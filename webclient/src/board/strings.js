// What a participant's phone says (join.html). The facilitator's board takes its words from coord/strings.js.

export const J = {
  title: 'Join the workshop board',
  intro: 'Type the code the facilitator shows. You need no account, and nobody sees who you are.',
  code: 'Code', name: 'Your first name (optional)', nameHint: 'Only the facilitator sees it.', join: 'Join',
  noBoard: 'No board is open with that code. Check it with the facilitator.',
  offline: 'No connection. Try again in a moment.',
  closed: 'That board has closed.',
  howTo: 'Drag cards into the groups the room makes. Add a note with the button.',
};

export const BOARD = {
  addTheme: 'New group', addNote: 'Note', addBoardNote: 'Add a note', undo: 'Undo', lock: 'Lock', unlock: 'Unlock',
  spread: 'Lay out', themeName: 'Group name', notePrompt: 'Your note', votes: (n) => `● ${n}`,
  offline: (n) => `Offline: ${n} change${n === 1 ? '' : 's'} waiting.`, sending: (n) => `Sending ${n}…`,
  refused: (n) => `${n} change${n === 1 ? ' was' : 's were'} refused (the board may be locked).`,
  ended: 'This board has closed. Thank you for taking part.',
};
