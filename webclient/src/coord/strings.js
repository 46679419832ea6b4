// Every word of the coordinator's workspace, in one place so it can be translated (the phone's words are in
// ../strings.js; this module loads only when a coordinator page opens, so phones never download it).
// Functions are for text with numbers or names in it.

export const C = {
  workspace: 'Coordinator workspace',
  project: 'Project',
  opening: 'Opening…',
  backToCapture: 'Back to capture',
  needsConnection: 'The coordinator pages need a connection. Connect and open this page again.',
  refusedTitle: 'Coordinators only',
  refused: 'This page is for a project\'s coordinators. Your account is not a coordinator of any project, so it ' +
    'cannot open it. Capture works as before.',
  nav: {
    overview: 'Overview',
    review: 'Review',
    tagging: 'Tagging',
    search: 'Search',
    codebook: 'Codebook',
    consents: 'Consent register',
    audit: 'Audit log',
    people: 'Researchers',
    project: 'Project settings',
  },

  // saving and errors
  saving: 'Saving…',
  saved: 'Saved.',
  notSaved: 'Not saved — your edit is still here.',
  offline: 'No answer from the server. Check the connection and try again.',
  loginEnded: 'Your login has ended. Log in again; your edit is kept on this page.',
  forbidden: 'Your role in this project does not allow that.',
  failed: 'The server could not do that.',
};
